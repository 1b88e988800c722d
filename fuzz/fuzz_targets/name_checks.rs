// Shared by the headers and naming targets (included, not a module file).

/// A name pixmill derives from what a server or URL says must be one
/// harmless path component: not empty, no separator, NUL or control
/// character, no leading dot (no `.`, `..` or hidden file), no trailing dot
/// or space (Windows drops them), at most 100 bytes.
pub fn assert_harmless(name: &str) {
    assert!(!name.is_empty(), "an empty name");
    assert!(name.len() <= 100, "{} bytes: {name:?}", name.len());
    assert!(
        !name
            .chars()
            .any(|c| c.is_control() || "/\\:*?\"<>|".contains(c)),
        "{name:?}"
    );
    assert!(!name.starts_with('.'), "{name:?}");
    assert!(!name.ends_with(['.', ' ']), "{name:?}");
    let path = std::path::Path::new(name);
    assert_eq!(path.components().count(), 1, "{name:?}");
}
