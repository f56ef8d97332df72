//! ferrokernel prelude
