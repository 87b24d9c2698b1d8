//! Compiles proto/nodecell/v1/nodecell.proto without a system protoc: protox parses it (with
//! the Google well-known types) into a descriptor set, which tonic's codegen turns into Rust,
//! and which is also written to OUT_DIR for server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let file = proto_root.join("nodecell/v1/nodecell.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let fds = protox::compile([&file], [&proto_root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("nodecell_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // prost's codec, reserving each message's buffer at its size (codec.rs).
        .codec_path("crate::codec::ReservingCodec")
        // Inputs and results go between the wire and JSON text without a tree of values
        // (wire_struct.rs, wire_value.rs).
        .extern_path(".google.protobuf.Struct", "crate::wire_struct::WireStruct")
        .extern_path(".google.protobuf.Value", "crate::wire_value::WireValue")
        .compile_fds(fds)?;
    Ok(())
}
