//! The hostile corpus's fixtures on the host (a canary file, a marker path, listeners, a
//! sentinel process, an env secret), checked after every case.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use crate::common;

/// Host-side fixtures of the hostile corpus.
pub struct Fixtures {
    dir: PathBuf,
    canary_path: PathBuf,
    canary_secret: String,
    pub env_secret: String,
    pub marker_path: PathBuf,
    tcp: TcpListener,
    udp: UdpSocket,
    unix: UnixListener,
    abstract_unix: [UnixListener; 2],
    abstract_name: String,
    sentinel: std::process::Child,
}

fn random_hex() -> String {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Fixtures {
    pub fn new() -> Fixtures {
        use std::os::linux::net::SocketAddrExt;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nodecell-hostile-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("canary")).unwrap();
        let canary_secret = format!("CANARY-{}", random_hex());
        let canary_path = dir.join("canary/secret.txt");
        std::fs::write(&canary_path, &canary_secret).unwrap();
        let env_secret = format!("ENVSECRET-{}", random_hex());
        std::env::set_var("NODECELL_TEST_SECRET", &env_secret);
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        tcp.set_nonblocking(true).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_nonblocking(true).unwrap();
        let unix = UnixListener::bind(dir.join("host.sock")).unwrap();
        unix.set_nonblocking(true).unwrap();
        let abstract_name = format!("nodecell-test-{}", random_hex());
        // The name as is (Node 22+) and zero-padded to the whole sun_path (Node 20).
        let mut padded = abstract_name.as_bytes().to_vec();
        padded.resize(107, 0);
        let abstract_unix = [abstract_name.as_bytes(), &padded].map(|name| {
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
            let l = UnixListener::bind_addr(&addr).unwrap();
            l.set_nonblocking(true).unwrap();
            l
        });
        let sentinel = Command::new("sleep").arg("3600").spawn().unwrap();
        Fixtures {
            marker_path: dir.join("marker"),
            dir,
            canary_path,
            canary_secret,
            env_secret,
            tcp,
            udp,
            unix,
            abstract_unix,
            abstract_name,
            sentinel,
        }
    }

    pub fn inputs(&self) -> serde_json::Map<String, Value> {
        let v = json!({
            "canary_path": self.canary_path,
            "canary_dir": self.canary_path.parent().unwrap(),
            "marker_path": self.marker_path,
            "tcp_port": self.tcp.local_addr().unwrap().port(),
            "udp_port": self.udp.local_addr().unwrap().port(),
            "unix_socket_path": self.dir.join("host.sock"),
            "abstract_socket_name": self.abstract_name,
            "sentinel_pid": self.sentinel.id(),
            "env_secret_name": "NODECELL_TEST_SECRET",
            "runner_dir_host": common::repo().join("runner"),
        });
        v.as_object().unwrap().clone()
    }

    /// What the host sees after a sandboxed run; each entry is a breach.
    pub fn breaches(&mut self, outcome_text: &str) -> Vec<String> {
        let mut out = Vec::new();
        if outcome_text.contains(&self.canary_secret) {
            out.push("the canary secret appears in the outcome".into());
        }
        if outcome_text.contains(&self.env_secret) {
            out.push("the host env secret appears in the outcome".into());
        }
        if std::fs::read_to_string(&self.canary_path).ok().as_deref()
            != Some(self.canary_secret.as_str())
        {
            out.push("the canary file changed".into());
            std::fs::write(&self.canary_path, &self.canary_secret).unwrap();
        }
        if self.marker_path.symlink_metadata().is_ok() {
            out.push("the marker file exists on the host".into());
            let _ = std::fs::remove_file(&self.marker_path);
        }
        if self.tcp.accept().is_ok() {
            out.push("the host TCP listener accepted a connection".into());
        }
        let mut buf = [0u8; 64];
        if self.udp.recv(&mut buf).is_ok() {
            out.push("the host UDP socket received a datagram".into());
        }
        if self.unix.accept().is_ok() {
            out.push("the host unix socket accepted a connection".into());
        }
        if self.abstract_unix.iter().any(|l| l.accept().is_ok()) {
            out.push("the host abstract unix socket accepted a connection".into());
        }
        if self.sentinel.try_wait().ok().flatten().is_some() {
            out.push("the host sentinel process died".into());
            self.sentinel = Command::new("sleep").arg("3600").spawn().unwrap();
        }
        let left = common::leftovers(&[self.sentinel.id()]);
        if !left.is_empty() {
            out.push(format!("the run left behind: {left:?}"));
        }
        if std::net::TcpStream::connect("127.0.0.1:9229").is_ok() {
            out.push("something listens on the host's inspector port 9229".into());
        }
        out
    }
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        let _ = self.sentinel.kill();
        let _ = self.sentinel.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
