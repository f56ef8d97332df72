//! ferrokernel engine
