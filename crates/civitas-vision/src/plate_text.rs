//! Plate text: normalisation, OCR-confusion-tolerant distance, and partial
//! patterns for searches. The first piece of number-plate recognition
//! (issue 5): a read from the OCR model is compared with hotlist entries by
//! a weighted edit distance in which swapping characters OCR commonly
//! confuses (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G) costs little and anything
//! else costs a full edit, so a threshold per list decides what is a hit.
//! A read above the threshold is never a hit, whatever else is true.

/// Characters OCR commonly confuses on plates, in classes.
const CONFUSABLE: &[&str] = &["0ODQ", "1IL", "2Z", "5S", "8B", "6G"];

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

/// Whether OCR commonly confuses `a` and `b` (equal characters included).
pub fn confusable(a: char, b: char) -> bool {
    a == b
        || CONFUSABLE
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
    fn partial_patterns_match_unknown_and_confusable_characters() {
        assert!(pattern_matches("PB?12?4", "PBX1234"));
        assert!(pattern_matches("p8x-1234", "PBX1234"));
        assert!(!pattern_matches("PB?12?", "PBX1234"), "length must agree");
        assert!(!pattern_matches("PC?1234", "PBX1234"));
    }
}
