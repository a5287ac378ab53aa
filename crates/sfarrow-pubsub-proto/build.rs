//! Compiles the proto with protox (a Rust protobuf compiler), so building needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/eventbus/v1/pubsub_api.proto");
    let fds = protox::compile(["eventbus/v1/pubsub_api.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(std::env::var_os("CARGO_FEATURE_SERVER").is_some())
        .build_client(std::env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .compile_fds(fds)?;
    Ok(())
}
