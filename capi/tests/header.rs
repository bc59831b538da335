//! include/dq.h is what the pinned cbindgen makes of capi/src; include/dq_ffi.h is the same
//! without preprocessor lines, for PHP's `FFI::cdef` (which has no preprocessor). Run with
//! `DQ_UPDATE_HEADER=1` (`make header`) to write them.

use std::path::Path;

fn generate() -> String {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml"))
        .expect("capi/cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

/// The header as a C11 compiler (not C++, not C23) sees it after preprocessing, without the
/// `#` lines: the conditions cbindgen writes are evaluated; any other condition fails the test
/// rather than guess.
fn for_ffi(header: &str) -> String {
    let condition = |line: &str| -> bool {
        match line {
            "#ifdef __cplusplus" => false,
            "#ifndef __cplusplus" | "#ifndef DQ_H" => true,
            "#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L"
            | "#if __STDC_VERSION__ >= 202311L" => false,
            other => panic!("unexpected preprocessor condition in the header: {other}"),
        }
    };
    let mut out = String::new();
    let mut active: Vec<bool> = Vec::new();
    for line in header.lines() {
        let directive = line.trim_start();
        let directive = directive
            .split(" //")
            .next()
            .unwrap_or(directive)
            .trim_end();
        if directive.starts_with("#if") {
            active.push(condition(directive));
        } else if directive.starts_with("#else") {
            if let Some(top) = active.last_mut() {
                *top = !*top;
            }
        } else if directive.starts_with("#endif") {
            active.pop();
        } else if directive.starts_with('#') {
            // #define, #include: nothing for FFI.
        } else if active.iter().all(|a| *a) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn headers_are_current() {
    let header = generate();
    let ffi = for_ffi(&header);
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include");
    if std::env::var_os("DQ_UPDATE_HEADER").is_some() {
        std::fs::write(include.join("dq.h"), &header).unwrap();
        std::fs::write(include.join("dq_ffi.h"), &ffi).unwrap();
        return;
    }
    for (name, wanted) in [("dq.h", &header), ("dq_ffi.h", &ffi)] {
        let committed = std::fs::read_to_string(include.join(name)).unwrap_or_default();
        assert!(
            committed == *wanted,
            "include/{name} is out of date with capi/src: run `make header` and commit it"
        );
    }
    assert!(
        !ffi.lines().any(|line| line.trim_start().starts_with('#')),
        "dq_ffi.h must have no preprocessor lines"
    );
}
