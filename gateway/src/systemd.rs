//! systemd's readiness protocol (`Type=notify` units): a datagram to `$NOTIFY_SOCKET` when the
//! gateway is ready to serve, reloading and stopping. Without that variable (not started by
//! systemd, or another `Type=`), nothing is sent. No libsystemd: the protocol is one datagram.

use std::ffi::OsString;
use std::os::unix::net::UnixDatagram;

/// Ready: the HTTP listener is bound and the workers run.
pub fn ready() {
    notify("READY=1\nSTATUS=serving");
}

/// Reading the configuration again (SIGHUP); `ready()` follows.
pub fn reloading() {
    notify("RELOADING=1");
}

/// Stopping: in-flight requests and deliveries are finishing.
pub fn stopping() {
    notify("STOPPING=1\nSTATUS=stopping");
}

fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&socket, state) {
        tracing::warn!(socket = %socket.to_string_lossy(), error = %e, "cannot notify systemd");
    }
}

fn send(socket: &OsString, state: &str) -> std::io::Result<()> {
    let datagram = UnixDatagram::unbound()?;
    let path = socket.as_encoded_bytes();
    // "@name" is a socket in the abstract namespace (Linux).
    if let Some(name) = path.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        datagram.send_to_addr(state.as_bytes(), &address)?;
    } else {
        datagram.send_to(state.as_bytes(), socket)?;
    }
    Ok(())
}
