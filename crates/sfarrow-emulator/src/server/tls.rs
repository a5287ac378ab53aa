//! Key material made at start: a CA and a server certificate for the HTTPS listener, and the RSA
//! key pair registered on the connected app for the JWT bearer flow.

use std::sync::Arc;

pub struct Tls {
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
    /// The same certificate offering HTTP/2 by ALPN, for the Pub/Sub listener: gRPC clients
    /// refuse a TLS server that does not.
    pub grpc: Arc<rustls::ServerConfig>,
}

fn tls_err(e: impl std::fmt::Display) -> String {
    format!("could not create the emulator's TLS certificate: {e}")
}

/// A CA certificate, and a server certificate it signs for `localhost` and `host`. Clients trust
/// the CA (rustls refuses a CA certificate used directly as a server certificate).
pub fn make_tls(host: &str) -> Result<Tls, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().map_err(tls_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sfarrow emulator CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !names.iter().any(|n| n == host) {
        names.push(host.to_string());
    }
    let leaf_key = KeyPair::generate().map_err(tls_err)?;
    let mut leaf_params = CertificateParams::new(names).map_err(tls_err)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "sfarrow emulator");
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(tls_err)?;
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key_der)
        .map_err(tls_err)?;
    let mut grpc = server.clone();
    grpc.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
        grpc: Arc::new(grpc),
    })
}

/// An RSA key pair for JWT bearer: (private key PKCS#8 PEM, public key PEM, certificate PEM).
pub fn make_jwt_key() -> Result<(String, String, String), String> {
    use rcgen::{CertificateParams, DnType, KeyPair, PKCS_RSA_SHA256};
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(tls_err)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "sfarrow emulator connected app");
    let cert = params.self_signed(&key).map_err(tls_err)?;
    Ok((key.serialize_pem(), key.public_key_pem(), cert.pem()))
}
