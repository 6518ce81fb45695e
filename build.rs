//! Decides at build time whether the Postgres half of the test suite runs.
//!
//! libtest can only mark a test ignored when it is compiled, so
//! `QBWCD_TEST_POSTGRES_URL` is read here: when it is set, the cfg
//! `qbwcd_test_postgres` is on and `both_backends!`'s Postgres tests run;
//! when it is not, they are compiled `#[ignore]`d and the runner prints
//! them as ignored instead of passing without touching a database.
//! Cargo reruns this (and rebuilds the crate) when the variable changes.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=QBWCD_TEST_POSTGRES_URL");
    println!("cargo::rustc-check-cfg=cfg(qbwcd_test_postgres)");
    let set = std::env::var("QBWCD_TEST_POSTGRES_URL").is_ok_and(|v| !v.trim().is_empty());
    if set {
        println!("cargo::rustc-cfg=qbwcd_test_postgres");
    }
}
