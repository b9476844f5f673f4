//! Walking error chains: tonic, hyper and h2 wrap what happened several levels deep,
//! and `std::io::Error` (and h2, of the io::Error it carries) hide their inner error
//! from `source()`.

use std::error::Error;

/// Chains deeper than this are not walked (a cycle, or a hostile error).
const MAX_DEPTH: usize = 32;

/// Every error in the chain, the inner errors of `io::Error`s included.
fn next<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a (dyn Error + 'static)> {
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
    {
        return Some(inner);
    }
    // h2 also skips the io::Error it carries.
    if let Some(h2) = e.downcast_ref::<h2::Error>()
        && let Some(io) = h2.get_io()
    {
        return Some(io);
    }
    e.source()
}

/// The first error of type `T` in the chain.
pub(crate) fn find_cause<'a, T: Error + 'static>(err: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut cur = Some(err);
    for _ in 0..MAX_DEPTH {
        let e = cur?;
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = next(e);
    }
    None
}

/// The deepest cause: the one that says what happened.
pub(crate) fn innermost(err: &(dyn Error + 'static)) -> String {
    let mut cur = err;
    for _ in 0..MAX_DEPTH {
        match next(cur) {
            Some(n) => cur = n,
            None => break,
        }
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("marker {0}")]
    struct Marker(u8);

    #[test]
    fn causes_are_found_inside_io_errors() {
        let e = Outer(std::io::Error::other(Marker(7)));
        assert_eq!(find_cause::<Marker>(&e).map(|m| m.0), Some(7));
        assert_eq!(innermost(&e), "marker 7");
        assert!(find_cause::<std::fmt::Error>(&e).is_none());
    }
}
