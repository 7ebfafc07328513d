//! Plate text: normalisation, OCR-confusion-tolerant distance, and partial
//! patterns for searches. The first piece of number-plate recognition
//! (issue 5): a read from the OCR model is compared with hotlist entries by
//! a weighted edit distance in which swapping characters OCR commonly
//! confuses (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G) costs little and anything
//! else costs a full edit, so a threshold per list decides what is a hit.
//! A read above the threshold is never a hit, whatever else is true.

/// Characters OCR commonly confuses on plates, in classes.
pub const CONFUSABLE_CLASSES: &[&str] = &["0ODQ", "1IL", "2Z", "5S", "8B", "6G"];

/// Cost of substituting a character by one it is confusable with.
pub const CONFUSION_COST: f32 = 0.25;

/// Plate text as compared: upper case, letters and digits only (spaces,
/// dashes and dots dropped). Characters outside A–Z and 0–9 (Cyrillic,
/// Arabic, …) are refused in words, so a non-Latin read never silently
/// matches by losing characters.
pub fn normalise(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' ' | '-' | '.' | '·' => {}
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_uppercase()),
            c => {
                return Err(format!(
                    "plate {text:?}: character {c:?} is not a Latin letter or digit"
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(format!("plate {text:?}: no letters or digits"));
    }
    if out.len() > 12 {
        return Err(format!("plate {text:?}: longer than 12 characters"));
    }
    Ok(out)
}

/// An OCR read made comparable: like [`normalise`], but marks that are no
/// letters (the seal between a German plate's groups reads as `"`, a bolt as
/// `·`) are dropped first. Letters of other scripts are still refused.
pub fn clean_read(text: &str) -> Result<String, String> {
    let kept: String = text
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect();
    normalise(&kept)
}

/// Whether OCR commonly confuses `a` and `b` (equal characters included).
pub fn confusable(a: char, b: char) -> bool {
    a == b
        || CONFUSABLE_CLASSES
            .iter()
            .any(|class| class.contains(a) && class.contains(b))
}

fn substitution(a: char, b: char) -> f32 {
    if a == b {
        0.0
    } else if confusable(a, b) {
        CONFUSION_COST
    } else {
        1.0
    }
}

/// Weighted edit distance between two normalised plates: insertions and
/// deletions cost 1, substitutions 1 or [`CONFUSION_COST`] for confusable
/// characters.
pub fn distance(a: &str, b: &str) -> f32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<f32> = (0..=b.len()).map(|j| j as f32).collect();
    let mut cur = vec![0.0f32; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i as f32;
        for j in 1..=b.len() {
            cur[j] = (prev[j] + 1.0)
                .min(cur[j - 1] + 1.0)
                .min(prev[j - 1] + substitution(a[i - 1], b[j - 1]));
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// A search pattern: plate characters with `?` for any one character
/// (e.g. `AB?12?`). Confusable characters match each other, since the
/// stored reads come from OCR.
pub fn pattern_matches(pattern: &str, plate: &str) -> bool {
    let p: Vec<char> = pattern
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let t: Vec<char> = plate.chars().collect();
    p.len() == t.len()
        && p.iter()
            .zip(&t)
            .all(|(p, t)| *p == '?' || confusable(*p, *t))
}

/// A plate format: `L` a letter, `N` a digit, `A` either (e.g. Ecuador's
/// `LLLNNNN`). Separators are not part of a format: reads are normalised first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlateFormat {
    /// Short name shown with the read, e.g. `EC`.
    pub code: String,
    pub pattern: String,
}

/// Format presets by country code: South American formats in use, the two
/// Mercosur ones, and a permissive `ANY` (4 to 10 characters, at least one digit).
pub const FORMAT_PRESETS: &[(&str, &[&str])] = &[
    ("EC", &["LLLNNNN", "LLLNNN"]),
    ("BO", &["NNNNLLL", "NNNLLL"]),
    ("CO", &["LLLNNN", "LLLNNL"]),
    ("PE", &["LNLNNN", "LLNNNN"]),
    ("AR", &["LLNNNLL", "LLLNNN"]),
    ("BR", &["LLLNLNN", "LLLNNNN"]),
    ("CL", &["LLLLNN", "LLNNNN"]),
    ("DO", &["LNNNNNN"]),
];

/// The formats of the named presets (`["EC", "CO"]`), or an error naming an unknown one.
pub fn formats_for(codes: &[String]) -> Result<Vec<PlateFormat>, String> {
    let mut out = Vec::new();
    for code in codes {
        let up = code.trim().to_ascii_uppercase();
        if up == "ANY" {
            continue;
        }
        let (_, patterns) = FORMAT_PRESETS
            .iter()
            .find(|(c, _)| *c == up)
            .ok_or_else(|| {
                format!(
                    "plate format {code:?} is not a preset; known: ANY, {}",
                    FORMAT_PRESETS
                        .iter()
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        out.extend(patterns.iter().map(|p| PlateFormat {
            code: up.clone(),
            pattern: (*p).to_owned(),
        }));
    }
    Ok(out)
}

fn as_letter(c: char) -> Option<char> {
    match c {
        'A'..='Z' => Some(c),
        '0' => Some('O'),
        '1' => Some('I'),
        '2' => Some('Z'),
        '5' => Some('S'),
        '8' => Some('B'),
        '6' => Some('G'),
        _ => None,
    }
}

fn as_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        'O' | 'D' | 'Q' => Some('0'),
        'I' | 'L' => Some('1'),
        'Z' => Some('2'),
        'S' => Some('5'),
        'B' => Some('8'),
        'G' => Some('6'),
        _ => None,
    }
}

/// Fits a normalised read to a format: where the format wants a letter and
/// the read has a digit OCR confuses with one (or the other way round), the
/// character is corrected. `None` if it cannot fit. Returns the fitted text
/// and how many characters were corrected.
pub fn fit_format(read: &str, pattern: &str) -> Option<(String, usize)> {
    if read.chars().count() != pattern.chars().count() {
        return None;
    }
    let mut out = String::with_capacity(read.len());
    let mut fixed = 0;
    for (c, p) in read.chars().zip(pattern.chars()) {
        let d = match p {
            'L' => as_letter(c)?,
            'N' => as_digit(c)?,
            _ => c,
        };
        fixed += usize::from(d != c);
        out.push(d);
    }
    Some((out, fixed))
}

/// Most characters a format may correct in one read: more, and text that is
/// no plate at all would be bent into one (`BOLIVIA` → `8011VIA`).
pub const MAX_FORMAT_CORRECTIONS: usize = 2;

/// The best fit of a read among formats (fewest corrections, at most
/// [`MAX_FORMAT_CORRECTIONS`]; ties to the first listed): `(text, format code)`. With no formats, any read of 4 to 10
/// characters holding a digit is accepted as it is.
pub fn best_format(read: &str, formats: &[PlateFormat]) -> Option<(String, Option<String>)> {
    if formats.is_empty() {
        let n = read.chars().count();
        return ((4..=10).contains(&n) && read.chars().any(|c| c.is_ascii_digit()))
            .then(|| (read.to_owned(), None));
    }
    formats
        .iter()
        .filter_map(|f| fit_format(read, &f.pattern).map(|(t, k)| (t, k, &f.code)))
        .filter(|(_, k, _)| *k <= MAX_FORMAT_CORRECTIONS)
        .min_by_key(|(_, k, _)| *k)
        .map(|(t, _, code)| (t, Some(code.clone())))
}

/// A hotlist entry as matched: its id, normalised plate, and the list's threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct HotPlate {
    pub id: i64,
    pub plate: String,
    /// Largest [`distance`] that counts as a hit for this entry's list.
    pub max_distance: f32,
}

/// The closest entry within its own threshold, if any: `(id, distance)`.
/// Ties go to the entry listed first.
pub fn best_hit(read: &str, entries: &[HotPlate]) -> Option<(i64, f32)> {
    entries
        .iter()
        .map(|e| (e, distance(read, &e.plate)))
        .filter(|(e, d)| *d <= e.max_distance)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(e, d)| (e.id, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_keeps_letters_and_digits_and_refuses_other_scripts() {
        assert_eq!(normalise("abc-12 34").unwrap(), "ABC1234");
        assert_eq!(normalise("PBX·1234").unwrap(), "PBX1234");
        assert!(normalise("АВС123").unwrap_err().contains("not a Latin"));
        assert!(normalise(" - ").unwrap_err().contains("no letters"));
        assert!(normalise("ABCDEFGHIJKLM").unwrap_err().contains("longer"));
        assert_eq!(clean_read("5AU\"5341").unwrap(), "5AU5341");
        assert_eq!(clean_read("PBX•1234").unwrap(), "PBX1234");
        assert!(clean_read("京A12345").unwrap_err().contains("not a Latin"));
    }

    #[test]
    fn confusions_cost_little_and_other_edits_a_full_step() {
        assert_eq!(distance("PBX1234", "PBX1234"), 0.0);
        assert_eq!(distance("PBX1234", "P8X1234"), CONFUSION_COST);
        assert_eq!(distance("PBX1234", "PBXI234"), CONFUSION_COST);
        assert_eq!(distance("PBX1234", "P8XIZ34"), 3.0 * CONFUSION_COST);
        assert_eq!(distance("PBX1234", "PBX1235"), 1.0);
        assert_eq!(distance("PBX1234", "PBX123"), 1.0);
        assert_eq!(distance("", "AB"), 2.0);
        for (a, b) in [('0', 'Q'), ('D', 'O'), ('6', 'G'), ('5', 'S'), ('2', 'Z')] {
            assert!(confusable(a, b) && confusable(b, a));
        }
        assert!(!confusable('A', '4') && !confusable('1', '7'));
    }

    #[test]
    fn a_read_beyond_the_threshold_is_never_a_hit() {
        let list = [
            HotPlate {
                id: 1,
                plate: "PBX1234".into(),
                max_distance: 0.5,
            },
            HotPlate {
                id: 2,
                plate: "GYE0077".into(),
                max_distance: 0.0,
            },
        ];
        assert_eq!(best_hit("P8X1234", &list), Some((1, CONFUSION_COST)));
        assert_eq!(
            best_hit("PBX1235", &list),
            None,
            "one real edit is above 0.5"
        );
        assert_eq!(best_hit("GYEO077", &list), None, "list 2 wants exact reads");
        assert_eq!(best_hit("GYE0077", &list), Some((2, 0.0)));
    }

    #[test]
    fn formats_correct_confusable_characters_by_position() {
        assert_eq!(
            fit_format("PBX1234", "LLLNNNN"),
            Some(("PBX1234".into(), 0))
        );
        assert_eq!(
            fit_format("P8XI234", "LLLNNNN"),
            Some(("PBX1234".into(), 2))
        );
        assert_eq!(fit_format("PBX12A4", "LLLNNNN"), None, "A is no digit");
        assert_eq!(fit_format("PBX123", "LLLNNNN"), None);
        let ec = formats_for(&["ec".into()]).unwrap();
        assert_eq!(
            best_format("GYE0O77", &ec),
            Some(("GYE0077".into(), Some("EC".into())))
        );
        assert_eq!(best_format("ECUADOR", &ec), None, "band text is no plate");
        let bo = formats_for(&["BO".into()]).unwrap();
        assert_eq!(
            best_format("BOLIVIA", &bo),
            None,
            "four corrections are too many"
        );
        assert!(
            formats_for(&["XX".into()])
                .unwrap_err()
                .contains("not a preset")
        );
        assert_eq!(
            best_format("AB12", &[]),
            Some(("AB12".into(), None)),
            "ANY takes what has a digit"
        );
        assert_eq!(best_format("BOLIVIA", &[]), None);
    }

    #[test]
    fn partial_patterns_match_unknown_and_confusable_characters() {
        assert!(pattern_matches("PB?12?4", "PBX1234"));
        assert!(pattern_matches("p8x-1234", "PBX1234"));
        assert!(!pattern_matches("PB?12?", "PBX1234"), "length must agree");
        assert!(!pattern_matches("PC?1234", "PBX1234"));
    }
}
