//! Python's `input()` and `getpass()`, through evcxr's input protocol: the
//! cell prints a request line and the kernel writes the answer to its stdin.

use super::protocol;
use std::io::Write;

/// Reads a line the user types in the notebook, like Python's `input()`.
/// Outside a notebook, reads a line from stdin after printing the request.
///
/// ```no_run
/// let name = ferrokernel_prelude::notebook::input("Your name: ");
/// println!("hello {name}");
/// ```
pub fn input(prompt: &str) -> String {
    read_line(prompt, false)
}

/// Reads a line without showing it, like Python's `getpass.getpass()`.
///
/// ```no_run
/// let secret = ferrokernel_prelude::notebook::getpass("Password: ");
/// # let _ = secret;
/// ```
pub fn getpass(prompt: &str) -> String {
    read_line(prompt, true)
}

fn read_line(prompt: &str, password: bool) -> String {
    let request = if password {
        protocol::INPUT_REQUEST_PASSWORD
    } else {
        protocol::INPUT_REQUEST
    };
    {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = writeln!(out, "{request}:{}", protocol::escape_prompt(prompt));
        let _ = out.flush();
    }
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    line.trim_end_matches(['\n', '\r']).to_owned()
}
