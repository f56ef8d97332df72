//! ferrokernel protocol
