//! Message text made safe for a page: everything is escaped, and web links
//! become clickable. Nothing else a user types is ever read as HTML.

/// Escapes `text` for HTML and turns `http://` and `https://` links into
/// anchors that open in a new tab without giving it a handle on this one.
pub fn render(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 16);
    let mut rest = text;

    while let Some(start) = find_link(rest) {
        escape_into(&mut html, &rest[..start]);
        let link = &rest[start..];
        let end = link_end(link);
        let (url, after) = link.split_at(end);
        html.push_str("<a href=\"");
        escape_into(&mut html, url);
        html.push_str("\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">");
        escape_into(&mut html, url);
        html.push_str("</a>");
        rest = after;
    }
    escape_into(&mut html, rest);

    html.replace('\n', "<br>")
}

fn find_link(text: &str) -> Option<usize> {
    let http = text.find("http://");
    let https = text.find("https://");
    match (http, https) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
    .filter(|&start| link_end(&text[start..]) > "https://".len() - 1)
}

/// Where a link ends: at whitespace or a character that cannot be in a URL,
/// leaving off trailing punctuation that usually ends the sentence instead.
fn link_end(link: &str) -> usize {
    let end = link
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
        .unwrap_or(link.len());
    link[..end]
        .trim_end_matches(['.', ',', ';', ':', '!', '?', ')'])
        .len()
}

fn escape_into(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markup_is_shown_as_text() {
        assert_eq!(
            render("<script>alert('x')</script> & <b>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;"
        );
    }

    #[test]
    fn links_become_anchors_without_trailing_punctuation() {
        assert_eq!(
            render("See https://status.example.com/a?b=1&c=2."),
            "See <a href=\"https://status.example.com/a?b=1&amp;c=2\" \
             rel=\"noopener noreferrer nofollow\" target=\"_blank\">\
             https://status.example.com/a?b=1&amp;c=2</a>."
        );
    }

    #[test]
    fn a_link_cannot_break_out_of_its_attribute() {
        let html = render("http://x.example/\"onmouseover=\"alert(1)");
        assert!(!html.contains("\"onmouseover"), "{html}");
    }

    #[test]
    fn other_schemes_stay_text() {
        assert_eq!(render("javascript:alert(1)"), "javascript:alert(1)");
        assert_eq!(render("just http:// alone"), "just http:// alone");
    }

    #[test]
    fn line_breaks_are_kept() {
        assert_eq!(render("one\ntwo"), "one<br>two");
    }
}
