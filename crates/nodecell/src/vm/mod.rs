//! microVM sandboxes (issue 18): the guest image scripts/guest.sh builds, what this host's KVM
//! can boot, a VMM started per sandbox and the host's end of the guest's port.
//!
//! | file | holds |
//! |---|---|
//! | `image.rs` | the guest's kernel and initramfs, and whether they were built from this nodecell |
//! | `kvm.rs` | whether `/dev/kvm` boots a stock guest kernel here, and why not |
//! | `qemu.rs` | QEMU's command line, its start, the port's connection |
//! | `firecracker.rs` | Firecracker's configuration, its jail, its start, the guest's vsock connection |
//! | `api.rs` | the client of Firecracker's API socket |
//! | `vmm.rs` | what every VMM's start shares: its cgroup, the error of a VM that did not come up |
//! | `link.rs` | the host's end of the port: the job in, pid 1's frames out; the VMM as the sandbox's process |
//!
//! The guest's side is `crate::launch::guest` (nodecell-launcher as the guest's init).

pub(crate) mod api;
pub(crate) mod firecracker;
pub(crate) mod image;
pub(crate) mod kvm;
pub(crate) mod link;
pub(crate) mod qemu;
pub(crate) mod vmm;
