//! TEMP STUB
pub fn file_name_from_url(url: &str) -> Option<String> {
    url.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(String::from)
}
pub fn extension_for_content_type(_ct: &str) -> Option<&'static str> {
    None
}
