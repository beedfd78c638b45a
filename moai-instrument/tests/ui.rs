//! Compile-time behaviour: shapes that must compile, and mistakes that must be one clear error on
//! the user's own tokens (the `.stderr` files hold the exact messages).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
