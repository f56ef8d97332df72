//! The ferrokernel kernel.
