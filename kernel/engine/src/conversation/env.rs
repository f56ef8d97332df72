//! The environment a kernel wants its engine to have, and which parts of it
//! decide whether an engine made in advance can serve that kernel.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Environment variables an engine reads when it starts: two engines whose
/// values differ here are not interchangeable. Every other variable is applied
/// when a kernel claims an engine (see [`HostRequest::Claim`]).
const ENGINE_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LD_LIBRARY_PATH",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "XDG_CACHE_HOME",
];

/// Prefixes of engine-start variables (the toolchain, evcxr, ferrokernel's own settings).
const ENGINE_VARIABLE_PREFIXES: &[&str] = &["RUSTUP_", "CARGO_", "EVCXR_", "FERROKERNEL_"];

/// Variables that differ between kernels without mattering to the pool itself.
const POOL_IGNORED: &[&str] = &["FERROKERNEL_POOL_DIR", "FERROKERNEL_POOL_IDLE_SECS"];

/// The environment and working directory a kernel wants its engine to have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineEnv {
    /// Every environment variable.
    pub vars: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
}

impl EngineEnv {
    /// This process's environment and working directory.
    pub fn current() -> EngineEnv {
        EngineEnv {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    /// What an engine started with this environment depends on: engines with
    /// the same key can serve each other's kernels.
    pub fn engine_key(&self) -> BTreeMap<&str, &str> {
        self.vars
            .iter()
            .filter(|(name, _)| is_engine_variable(name))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    /// What a host started with `self` must change to look like `wanted`:
    /// variables to set (`Some`) or remove (`None`), engine-start variables
    /// excepted (they are equal when the pool hands an engine over).
    pub fn changes_to(&self, wanted: &EngineEnv) -> Vec<(String, Option<String>)> {
        let mut changes = Vec::new();
        for (name, value) in &wanted.vars {
            if !is_engine_variable(name) && self.vars.get(name) != Some(value) {
                changes.push((name.clone(), Some(value.clone())));
            }
        }
        for name in self.vars.keys() {
            if !is_engine_variable(name) && !wanted.vars.contains_key(name) {
                changes.push((name.clone(), None));
            }
        }
        changes
    }
}

fn is_engine_variable(name: &str) -> bool {
    !POOL_IGNORED.contains(&name)
        && (ENGINE_VARIABLES.contains(&name)
            || ENGINE_VARIABLE_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)], cwd: &str) -> EngineEnv {
        EngineEnv {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: PathBuf::from(cwd),
        }
    }

    #[test]
    fn engines_match_on_toolchain_and_settings_only() {
        let spare = env(
            &[
                ("PATH", "/bin"),
                ("JPY_SESSION_NAME", "a.ipynb"),
                ("FERROKERNEL_POOL_DIR", "/x"),
            ],
            "/a",
        );
        let kernel = env(
            &[
                ("PATH", "/bin"),
                ("JPY_SESSION_NAME", "b.ipynb"),
                ("LANG", "C"),
            ],
            "/b",
        );
        assert_eq!(spare.engine_key(), kernel.engine_key());
        let other = env(&[("PATH", "/usr/bin"), ("RUSTUP_TOOLCHAIN", "beta")], "/a");
        assert_ne!(spare.engine_key(), other.engine_key());
    }

    #[test]
    fn a_claim_applies_every_other_difference() {
        let spare = env(
            &[
                ("PATH", "/bin"),
                ("JPY_SESSION_NAME", "a.ipynb"),
                ("OLD", "1"),
            ],
            "/a",
        );
        let kernel = env(
            &[
                ("PATH", "/bin"),
                ("JPY_SESSION_NAME", "b.ipynb"),
                ("LANG", "C"),
            ],
            "/b",
        );
        let mut changes = spare.changes_to(&kernel);
        changes.sort();
        assert_eq!(
            changes,
            vec![
                ("JPY_SESSION_NAME".to_owned(), Some("b.ipynb".to_owned())),
                ("LANG".to_owned(), Some("C".to_owned())),
                ("OLD".to_owned(), None),
            ]
        );
    }
}
