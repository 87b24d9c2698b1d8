//! microVM sandboxes (issue 18): the guest image scripts/guest.sh builds, what this host's KVM
//! can boot, a VMM started per sandbox and the host's end of the guest's port.
//!
//! | file | holds |
//! |---|---|
//! | `image.rs` | the guest's kernel and initramfs, and whether they were built from this nodecell |
//! | `kvm.rs` | whether `/dev/kvm` boots a stock guest kernel here, and why not |
//! | `qemu.rs` | QEMU's command line, its start, the port's connection |
//! | `link.rs` | the host's end of the port: the job in, pid 1's frames out; the VMM as the sandbox's process |
//!
//! The guest's side is `crate::launch::guest` (nodecell-launcher as the guest's init).

pub(crate) mod image;
pub(crate) mod kvm;
pub(crate) mod link;
pub(crate) mod qemu;
