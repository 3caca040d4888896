//! Keeping Halo's plain and HTML twins of a text (`details`/`details_html`,
//! `note`/`note_html`) in step when a client sends only one of them.

/// Plain text as HTML: escaped, line breaks as `<br>`.
pub fn to_html(plain: &str) -> String {
    let mut html = String::with_capacity(plain.len());
    for character in plain.chars() {
        match character {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\n' => html.push_str("<br>"),
            '\r' => {}
            other => html.push(other),
        }
    }
    html
}

/// HTML reduced to plain text: tags dropped (block ends and `<br>` become line
/// breaks), the common entities decoded.
pub fn to_plain(html: &str) -> String {
    let mut plain = String::with_capacity(html.len());
    let mut rest = html;

    while let Some(start) = rest.find('<') {
        plain.push_str(&rest[..start]);
        let Some(length) = rest[start..].find('>') else {
            // An unclosed `<` is text, as browsers treat it.
            plain.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + length].trim().to_ascii_lowercase();
        if tag.starts_with("br") || tag == "/p" || tag == "/div" || tag == "/li" {
            plain.push('\n');
        }
        rest = &rest[start + length + 1..];
    }
    plain.push_str(rest);

    decode_entities(plain.trim_end_matches('\n'))
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_round_trips_through_html() {
        let plain = "Printer <HP> says \"jam\" & stops\nsecond line";

        assert_eq!(
            to_html(plain),
            "Printer &lt;HP&gt; says &quot;jam&quot; &amp; stops<br>second line"
        );
        assert_eq!(to_plain(&to_html(plain)), plain);
    }

    #[test]
    fn html_loses_its_tags_but_keeps_its_lines() {
        assert_eq!(
            to_plain("<p>Hello <b>there</b></p><p>Bye&nbsp;now</p>"),
            "Hello there\nBye now"
        );
        assert_eq!(to_plain("1 < 2"), "1 < 2");
    }
}
