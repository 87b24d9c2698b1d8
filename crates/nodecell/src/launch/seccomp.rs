//! The seccomp filters, compiled from policy/seccomp/node.json by build.rs.
//!
//! Two filters: `node_allow` (the allowlist; anything else fails with EPERM) and
//! `node_enosys` (installed last, so it runs first: clone3 and io_uring_* answer ENOSYS,
//! which glibc and libuv take as "not supported" and fall back from).

use seccompiler::{sock_filter, BpfProgram};

const NODE_ALLOW: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/node_allow.bpf"));
const NODE_ENOSYS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/node_enosys.bpf"));

fn decode(bytes: &[u8]) -> BpfProgram {
    bytes
        .chunks_exact(8)
        .map(|c| sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// Installs both filters on the calling thread; requires no_new_privs (or CAP_SYS_ADMIN).
pub fn install() -> Result<(), seccompiler::Error> {
    seccompiler::apply_filter(&decode(NODE_ALLOW))?;
    seccompiler::apply_filter(&decode(NODE_ENOSYS))?;
    Ok(())
}

/// Installs only the ENOSYS filter: for a zygote, whose Node must not set up io_uring (its
/// children, under the whole policy, could not use it) but whose children still need the
/// calls the allowlist refuses.
pub fn install_enosys() -> Result<(), seccompiler::Error> {
    seccompiler::apply_filter(&decode(NODE_ENOSYS))
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_filters_are_compiled_in() {
        assert!(super::NODE_ALLOW.len() >= 8 * 10 && super::NODE_ALLOW.len() % 8 == 0);
        assert!(super::NODE_ENOSYS.len() >= 8 * 4 && super::NODE_ENOSYS.len() % 8 == 0);
    }
}
