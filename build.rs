//! Compiles the GTFS-Realtime protocol (proto/gtfs-realtime.proto, the specification's own
//! file) into Rust types with prost, and keeps its descriptors so the feed can also be
//! written as protobuf JSON. protox parses the file, so no `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/gtfs-realtime.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("gtfs_realtime_descriptors.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
