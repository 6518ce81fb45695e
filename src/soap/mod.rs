//! The SOAP layer: HTTP body bytes → a typed [`Call`], a typed [`Reply`] →
//! HTTP body bytes, SOAP 1.1 faults, and the WSDL.
//!
//! Nothing here knows about sessions or the queue; the `qbwc` handlers take a
//! [`Call`] and give back a [`Reply`].

mod call;
mod envelope;
mod fault;
mod method;
mod params;
mod render;
mod reply;
mod wsdl;
mod xml;

pub use call::Call;
pub use envelope::{parse_call, Limits};
pub use fault::{render_fault, SoapError};
pub use method::Method;
pub use render::render_reply;
pub use reply::Reply;
pub use wsdl::{wsdl_for, WSDL};

#[cfg(test)]
mod tests;
