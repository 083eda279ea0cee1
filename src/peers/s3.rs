//! S3 requests to MinIO: SigV4 (aws-sigv4) with a signed payload hash and
//! Content-MD5 on bodies, never chunked (MinIO refuses streaming payloads
//! for bucket encryption), bodies read up to a bound.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use md5::Digest as _;
use reqwest::Url;

use crate::config::MinioSettings;
use crate::net::tls::{CaSource, Section, TlsSetupError};
use crate::peers::kes::client::chain_text;
use crate::secret::Secret;

const BODY_LIMIT: usize = 1024 * 1024;

pub(crate) struct S3Client {
    http: reqwest::Client,
    endpoint: Url,
    region: String,
    access_key: String,
    secret_key: Secret<String>,
}

#[derive(Debug)]
pub(crate) struct S3Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl S3Response {
    /// The `<Code>` of an S3 error document ("" when there is none).
    pub(crate) fn error_code(&self) -> String {
        xml_text(&self.body, "Code").unwrap_or_default()
    }

    pub(crate) fn error_message(&self) -> String {
        xml_text(&self.body, "Message").unwrap_or_default()
    }
}

impl S3Client {
    pub(crate) async fn new(
        minio: &MinioSettings,
        access_key: String,
        secret_key: Secret<String>,
    ) -> Result<S3Client, TlsSetupError> {
        // Configured even for http://: reqwest has no TLS provider of its own here.
        let source = minio
            .ca
            .clone()
            .map_or(CaSource::None, CaSource::Configured);
        let pool = crate::net::tls::pool::build(Section::Minio, source, Default::default()).await?;
        let tls = crate::net::tls::builder(Section::Minio, pool)?.with_no_client_auth();
        let http = crate::net::tls::http_client(
            Section::Minio,
            tls,
            Duration::from_secs(5),
            Duration::from_secs(30),
        )?;
        Ok(S3Client {
            http,
            endpoint: minio.endpoint.clone(),
            region: minio.region.clone(),
            access_key,
            secret_key,
        })
    }

    pub(crate) fn endpoint(&self) -> &str {
        self.endpoint.as_str().trim_end_matches('/')
    }

    /// An unsigned GET (MinIO's health checks refuse signed requests).
    pub(crate) async fn get_unsigned(&self, path: &str) -> Result<u16, String> {
        let url = self.endpoint.join(path).map_err(|e| e.to_string())?;
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| chain_text(&e))?;
        Ok(resp.status().as_u16())
    }

    /// A SigV4-signed request; `path_and_query` like `/bucket?encryption`.
    pub(crate) async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<S3Response, String> {
        let url = self
            .endpoint
            .join(path_and_query)
            .map_err(|e| e.to_string())?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header("host", host);
        if !body.is_empty() {
            let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
            request = request
                .header("content-md5", md5)
                .header("content-type", "application/xml");
        }
        let mut request = request.body(body).map_err(|e| e.to_string())?;
        self.sign(&mut request)?;
        let request = reqwest::Request::try_from(request).map_err(|e| e.to_string())?;
        let mut resp = self
            .http
            .execute(request)
            .await
            .map_err(|e| chain_text(&e))?;
        let status = resp.status().as_u16();
        let body = crate::net::tls::body_capped(&mut resp, BODY_LIMIT)
            .await
            .map_err(|e| chain_text(&e))?;
        Ok(S3Response { status, body })
    }

    fn sign(&self, request: &mut http::Request<Vec<u8>>) -> Result<(), String> {
        let identity: Identity = Credentials::new(
            &self.access_key,
            self.secret_key.expose(),
            None,
            None,
            "kesgate",
        )
        .into();
        let mut settings = SigningSettings::default();
        // S3 signs the payload hash (x-amz-content-sha256) and its paths are
        // neither normalised nor double-encoded.
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// The text of the first `<name>` element, wherever it is.
pub(crate) fn xml_text(xml: &[u8], name: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut inside = false;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.local_name().as_ref() == name.as_bytes() => inside = true,
            Event::Text(t) if inside => return t.decode().ok().map(|s| s.trim().to_owned()),
            Event::End(_) if inside => return Some(String::new()),
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_text_finds_elements() {
        let xml = br#"<?xml version="1.0"?><ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>k1</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"#;
        assert_eq!(
            super::xml_text(xml, "SSEAlgorithm").as_deref(),
            Some("aws:kms")
        );
        assert_eq!(
            super::xml_text(xml, "KMSMasterKeyID").as_deref(),
            Some("k1")
        );
        assert_eq!(super::xml_text(xml, "Missing"), None);
        let err = b"<Error><Code>kms:KeyNotFound</Code><Message>key with given key ID does not exist</Message></Error>";
        assert_eq!(
            super::xml_text(err, "Code").as_deref(),
            Some("kms:KeyNotFound")
        );
    }
}
