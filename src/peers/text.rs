//! Text that came from a peer (KES, MinIO, Vault): cut to a few hundred
//! characters and with control characters escaped before it reaches a
//! terminal, STATUS= or the journal.

/// How much of a peer's text is shown.
pub const MAX_CHARS: usize = 300;

pub fn cut(text: &str) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_and_control_characters_escaped() {
        assert_eq!(cut("a\x1b[31mb\nc"), "a\\u{1b}[31mb\\nc");
        let long = "x".repeat(1000);
        assert_eq!(cut(&long).chars().count(), MAX_CHARS + 1);
    }
}
