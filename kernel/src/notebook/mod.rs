//! Notebooks without Jupyter: `ferrokernel run` executes them through the engine,
//! `ferrokernel test` re-executes them and compares outputs like nbval.

pub mod commands;
pub mod compare;
pub mod format;
pub mod run;
pub mod sanitize;
