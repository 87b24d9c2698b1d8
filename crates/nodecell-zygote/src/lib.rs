//! The addon a zygote's Node loads (runner/zygote.js) before it serves fork requests; it is
//! never on a path a sandbox sees (each child hides its directory). One function:
//!
//! `serve()` blocks while the zygote serves fork requests on fd 3
//! ([`nodecell::launch::zygote::serve`]); it returns `false` in the zygote once the host
//! closes the control socket, and in each child, confined, with its fds in place and
//! libuv's loop made anew, the child's pid (Node read its own once, in the zygote).

use std::ffi::{c_int, CString};
use std::ptr;

use napi_sys::Status::napi_ok;
use napi_sys::{napi_callback_info, napi_env, napi_value, uv_loop_s};
use nodecell::launch::zygote::{serve, Served};

extern "C" {
    /// libuv's: makes the loop usable in a forked child (a new epoll instance, its async
    /// and signal fds anew, every watcher registered again). Exported by Node.
    fn uv_loop_fork(loop_: *mut uv_loop_s) -> c_int;
}

unsafe extern "C" fn serve_callback(env: napi_env, _info: napi_callback_info) -> napi_value {
    let mut event_loop: *mut uv_loop_s = ptr::null_mut();
    // SAFETY: `env` is the environment Node passed to this callback; the loop pointer is
    // written by Node and stays valid for the life of the environment.
    let status = unsafe { napi_sys::napi_get_uv_event_loop(env, &mut event_loop) };
    if status != napi_ok || event_loop.is_null() {
        // SAFETY: as above; the message is a NUL-terminated literal.
        return unsafe { throw(env, "no libuv loop for this environment") };
    }
    let mut in_child = || {
        // SAFETY: called in a freshly forked child, on the thread that owns the loop, before
        // the loop runs again (the zygote's JavaScript is blocked in this very callback).
        match unsafe { uv_loop_fork(event_loop) } {
            0 => Ok(()),
            code => Err(format!("uv_loop_fork failed with {code}")),
        }
    };
    let served = match serve(&mut in_child) {
        Ok(served) => served,
        // SAFETY: as above.
        Err(e) => return unsafe { throw(env, &format!("serving fork requests: {e}")) },
    };
    let mut result: napi_value = ptr::null_mut();
    // SAFETY: as above; `result` is written by Node.
    unsafe {
        match served {
            Served::Child => {
                napi_sys::napi_create_int32(env, std::process::id() as i32, &mut result)
            }
            Served::Closed => napi_sys::napi_get_boolean(env, false, &mut result),
        }
    };
    result
}

/// Throws an Error with `message` in `env`; returns what a callback then returns.
///
/// # Safety
/// `env` must be the environment of the running callback.
unsafe fn throw(env: napi_env, message: &str) -> napi_value {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: the caller's contract; `text` outlives the call.
    unsafe { napi_sys::napi_throw_error(env, ptr::null(), text.as_ptr()) };
    ptr::null_mut()
}

/// Node-API's entry point: called once when Node loads the addon.
///
/// # Safety
/// Called by Node only, with the loading environment and its `exports` object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let mut function: napi_value = ptr::null_mut();
    // SAFETY: the caller's contract; the name is a NUL-terminated literal of the given length
    // and `function` is written by Node.
    let made = unsafe {
        napi_sys::napi_create_function(
            env,
            c"serve".as_ptr(),
            5,
            Some(serve_callback),
            ptr::null_mut(),
            &mut function,
        )
    };
    if made == napi_ok {
        // SAFETY: as above; `function` was just created in `env`.
        unsafe { napi_sys::napi_set_named_property(env, exports, c"serve".as_ptr(), function) };
    }
    exports
}
