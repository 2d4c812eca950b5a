//! Links for the references a check carries: `RFC 3207 §4.2` to the RFC Editor's
//! page at that section, `CVE-2011-0411` to its CVE record. Anything else is text.

/// Where a reference can be read, if it is one we know how to link.
pub fn link(reference: &str) -> Option<String> {
    let reference = reference.trim();
    rfc_link(reference).or_else(|| cve_link(reference))
}

/// `RFC 3207`, `RFC 3207 §4.2` or `RFC3207 section 4.2`.
fn rfc_link(reference: &str) -> Option<String> {
    let rest = reference
        .strip_prefix("RFC")
        .or_else(|| reference.strip_prefix("rfc"))?;
    let rest = rest.trim_start();
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 5 {
        return None;
    }
    let (number, rest) = rest.split_at(digits);
    let rest = rest.trim();
    let mut url = format!("https://www.rfc-editor.org/rfc/rfc{number}");
    if rest.is_empty() {
        return Some(url);
    }
    let section = rest
        .strip_prefix('§')
        .or_else(|| rest.strip_prefix("section"))?
        .trim();
    let valid = !section.is_empty()
        && section.len() <= 20
        && section
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
    if !valid {
        return None;
    }
    url.push_str("#section-");
    url.push_str(section);
    Some(url)
}

/// `CVE-YYYY-NNNN` (four or more digits after the year).
fn cve_link(reference: &str) -> Option<String> {
    let mut parts = reference.split('-');
    let (prefix, year, number) = (parts.next()?, parts.next()?, parts.next()?);
    let valid = prefix.eq_ignore_ascii_case("CVE")
        && parts.next().is_none()
        && year.len() == 4
        && year.chars().all(|c| c.is_ascii_digit())
        && (4..=9).contains(&number.len())
        && number.chars().all(|c| c.is_ascii_digit());
    valid.then(|| format!("https://www.cve.org/CVERecord?id=CVE-{year}-{number}"))
}

#[cfg(test)]
mod tests {
    use super::link;

    #[test]
    fn links_rfc_sections_and_cves() {
        assert_eq!(
            link("RFC 3207 §4.2").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc3207#section-4.2")
        );
        assert_eq!(
            link("RFC 8314").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc8314")
        );
        assert_eq!(
            link("CVE-2011-0411").as_deref(),
            Some("https://www.cve.org/CVERecord?id=CVE-2011-0411")
        );
    }

    #[test]
    fn rejects_what_is_not_a_reference() {
        for text in [
            "RFC",
            "RFC x",
            "RFC 3207 §",
            "RFC 3207 §4.\"><script>",
            "RFC 3207 chapter 4",
            "CVE-2011",
            "CVE-11-0411",
            "CVE-2011-04x1",
            "see the docs",
        ] {
            assert_eq!(link(text), None, "{text}");
        }
    }
}
