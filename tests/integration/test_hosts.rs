//! The cluster tests' hosts: network namespaces made by
//! `tests/cluster/hosts.sh` (root and iproute2 needed), reached by Open MPI
//! through an rsh agent that enters a host's namespace. Shared by the
//! integration tests and the cluster benchmark.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// `Cluster::mpirun`'s hosts, two slots each.
pub(crate) const HOSTS: [&str; 3] = ["fkh1:2", "fkh2:2", "fkh3:2"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Makes the test hosts once (they stay up for later runs).
pub(crate) fn hosts_up() {
    static MADE: Mutex<bool> = Mutex::new(false);
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if *made {
        return;
    }
    let present = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains("fkh3"))
        .unwrap_or(false);
    if !present {
        let status = Command::new("bash")
            .arg(repo().join("tests/cluster/hosts.sh"))
            .arg("up")
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "tests/cluster/hosts.sh up failed: the cluster tests need root and iproute2"
        );
    }
    *made = true;
}

/// Makes the hosts; the environment under which `mpirun` reaches them as
/// root: Open MPI's root consent, the rsh agent, the hosts' subnet only.
pub(crate) fn mpirun_env() -> Vec<(&'static str, String)> {
    hosts_up();
    let agent = repo().join("tests/cluster/agent.sh").display().to_string();
    vec![
        ("OMPI_ALLOW_RUN_AS_ROOT", "1".to_owned()),
        ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1".to_owned()),
        ("OMPI_MCA_plm_rsh_agent", agent),
        ("OMPI_MCA_oob_tcp_if_include", "10.77.0.0/24".to_owned()),
        ("OMPI_MCA_btl_tcp_if_include", "10.77.0.0/24".to_owned()),
    ]
}
