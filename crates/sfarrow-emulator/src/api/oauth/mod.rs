//! OAuth 2.0 as Salesforce serves it (§1): the token endpoint with every grant, authorize with
//! PKCE, revoke, introspect, userinfo and identity URLs, and session lookup for API calls.
//!
//! - `sessions`: the state (app, sessions, refresh tokens, pending grants) and token responses
//! - `token`: the token endpoint's grants
//! - `authorize`: authorize and device approval, the browser side
//! - `identity`: revoke, introspect, userinfo, identity URLs

mod authorize;
mod identity;
mod sessions;
mod token;

pub use authorize::{authorize, device_approve};
pub use identity::{identity, introspect, revoke, userinfo};
pub use sessions::{bearer, random_token, App, Auth};
pub use token::token;
