//! The few SOAP partner API calls public Pub/Sub clients and CDC tests need
//! (docs/wire-notes.md §10.1, §10.7): `login`, which answers in the partner WSDL's element
//! order because some clients read the answer by position, and `undelete`, the API's way to
//! restore records from the recycle bin.

use crate::api::pubsub::cdc;
use crate::api::state::OrgState;
use crate::http::{Req, Resp};

const ENVELOPE_OPEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#;
const ENVELOPE_CLOSE: &str = "</soapenv:Body></soapenv:Envelope>";

fn xml(status: u16, body: &str) -> Resp {
    Resp::new(
        status,
        "text/xml; charset=utf-8",
        format!("{ENVELOPE_OPEN}{body}{ENVELOPE_CLOSE}").into_bytes(),
    )
}

fn fault(code: &str, message: &str) -> Resp {
    xml(
        500,
        &format!(
            "<soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {}</faultstring></soapenv:Fault>",
            escape(message)
        ),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of every element whose local name is `name`, whatever its prefix.
fn elements(body: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        let local = tag.split_whitespace().next().unwrap_or("");
        let local = local.rsplit(':').next().unwrap_or(local);
        rest = &rest[end + 1..];
        if local != name || tag.starts_with('/') || tag.ends_with('/') {
            continue;
        }
        let Some(close) = rest.find("</") else { break };
        let text = rest[..close].trim();
        let text = text
            .strip_prefix("<![CDATA[")
            .and_then(|t| t.strip_suffix("]]>"))
            .map(String::from)
            .unwrap_or_else(|| unescape(text));
        out.push(text);
    }
    out
}

/// `POST /services/Soap/u/<version>[/<org id>]`.
pub fn handle(state: &OrgState, req: &Req, version: &str) -> Resp {
    let Some(version) = crate::api::parse_version(&format!("v{version}")) else {
        return fault("UNSUPPORTED_API_VERSION", "the API version is not served");
    };
    if req.method != "POST" {
        return fault("INVALID_OPERATION", "SOAP calls are POSTed");
    }
    let body = String::from_utf8_lossy(&req.body);
    if body.contains("login>") && !elements(&body, "username").is_empty() {
        return login(state, req, &body, &version);
    }
    if !elements(&body, "undelete").is_empty() || body.contains(":undelete") {
        return undelete(state, &body, &version);
    }
    fault(
        "INVALID_OPERATION",
        "this org serves the SOAP calls login and undelete",
    )
}

fn login(state: &OrgState, req: &Req, body: &str, version: &str) -> Resp {
    let username = elements(body, "username").pop().unwrap_or_default();
    let password = elements(body, "password").pop().unwrap_or_default();
    let mut auth = state.auth.lock();
    if !username.eq_ignore_ascii_case(&auth.username) || password.is_empty() {
        return fault(
            "INVALID_LOGIN",
            "Invalid username, password, security token; or user locked out.",
        );
    }
    let user = auth.user_id.clone();
    let client = auth
        .apps
        .first()
        .map(|a| a.client_id.clone())
        .unwrap_or_default();
    let (session, _) = auth.issue_session(&user, &client, "api", None, true);
    let org = auth.org_id.clone();
    let name = escape(&auth.username);
    let base = &req.base;
    let nil = |n: &str| format!("<{n} xsi:nil=\"true\"/>");
    let user_info = [
        "<accessibilityMode>false</accessibilityMode>".to_string(),
        "<chatterExternal>false</chatterExternal>".into(),
        "<currencySymbol>$</currencySymbol>".into(),
        "<orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit>".into(),
        "<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode>".into(),
        "<orgDefaultCurrencyLocale>en_US</orgDefaultCurrencyLocale>".into(),
        "<orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments>".into(),
        "<orgHasPersonAccounts>false</orgHasPersonAccounts>".into(),
        format!("<organizationId>{org}</organizationId>"),
        "<organizationMultiCurrency>false</organizationMultiCurrency>".into(),
        "<organizationName>sfarrow emulator</organizationName>".into(),
        nil("profileId"),
        nil("roleId"),
        "<sessionSecondsValid>7200</sessionSecondsValid>".into(),
        nil("userDefaultCurrencyIsoCode"),
        format!("<userEmail>{name}</userEmail>"),
        "<userFullName>Emulator Admin</userFullName>".into(),
        format!("<userId>{user}</userId>"),
        "<userLanguage>en_US</userLanguage>".into(),
        "<userLocale>en_US</userLocale>".into(),
        format!("<userName>{name}</userName>"),
        "<userTimeZone>America/Los_Angeles</userTimeZone>".into(),
        "<userType>Standard</userType>".into(),
        "<userUiSkin>Theme3</userUiSkin>".into(),
    ]
    .concat();
    xml(
        200,
        &format!(
            "<loginResponse><result><metadataServerUrl>{base}/services/Soap/m/{version}/{org}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>false</sandbox><serverUrl>{base}/services/Soap/u/{version}/{org}</serverUrl><sessionId>{session}</sessionId><userId>{user}</userId><userInfo>{user_info}</userInfo></result></loginResponse>"
        ),
    )
}

fn undelete(state: &OrgState, body: &str, version: &str) -> Resp {
    let token = elements(body, "sessionId").pop().unwrap_or_default();
    let user = {
        let auth = state.auth.lock();
        match auth.session(&token) {
            Some(s) => s.user_id.clone(),
            None => {
                return fault(
                    "INVALID_SESSION_ID",
                    "Invalid Session ID found in SessionHeader",
                )
            }
        }
    };
    if !state.usage.lock().charge_api_call() {
        return fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.");
    }
    let ids = elements(body, "ids");
    if ids.is_empty() || ids.len() > 200 {
        return fault("INVALID_ARGUMENT", "undelete takes between 1 and 200 ids");
    }
    let mut results = String::new();
    {
        let mut store = state.store.write();
        for id in &ids {
            let outcome = match store.locate(id) {
                Some((t, r)) => store
                    .undelete(t, r)
                    .map(|_| store.tables[t].rows[r as usize].id().to_string()),
                None => Err(crate::data::value::DmlError::new(
                    "INVALID_ID_FIELD",
                    "invalid record id",
                    &[],
                )),
            };
            results.push_str(&match outcome {
                Ok(id) => format!("<result><id>{id}</id><success>true</success></result>"),
                Err(e) => format!(
                    "<result><errors><message>{}</message><statusCode>{}</statusCode></errors><id xsi:nil=\"true\"/><success>false</success></result>",
                    escape(&e.message),
                    e.code
                ),
            });
        }
    }
    let origin = format!("com/salesforce/api/soap/{version}");
    cdc::commit(
        state,
        &cdc::Origin {
            change_origin: &origin,
            user: &user,
        },
    );
    xml(
        200,
        &format!("<undeleteResponse>{results}</undeleteResponse>"),
    )
}
