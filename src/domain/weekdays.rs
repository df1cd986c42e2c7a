//! ISO weekdays (1 = Monday) as windows, schedules and freezes store them,
//! in words.

use super::validation::FieldErrors;

const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// "Mon, Wed, Fri", or "every day" for none. (Elements of a PostgreSQL
/// array are nullable; none is null, and a day out of range is left out.)
pub fn days_text(days: &[Option<i16>]) -> String {
    let names: Vec<&str> = days
        .iter()
        .flatten()
        .filter_map(|d| NAMES.get(usize::try_from(*d).ok()?.checked_sub(1)?))
        .copied()
        .collect();
    if names.is_empty() {
        "every day".to_owned()
    } else {
        names.join(", ")
    }
}

/// Days of the week as forms send them ("1" for Monday to "7"), sorted
/// and each once; anything else is refused on `field`.
pub fn parse_days(values: &[String], field: &str, errors: &mut FieldErrors) -> Vec<i16> {
    let mut days = Vec::new();
    for value in values {
        match value.parse::<i16>() {
            Ok(day) if (1..=7).contains(&day) => days.push(day),
            _ => errors.add(field, "Choose days of the week."),
        }
    }
    days.sort_unstable();
    days.dedup();
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_as_names_in_order_given_and_none_as_every_day() {
        assert_eq!(days_text(&[Some(1), Some(3), Some(5)]), "Mon, Wed, Fri");
        assert_eq!(days_text(&[Some(7)]), "Sun");
        assert_eq!(days_text(&[]), "every day");
        assert_eq!(days_text(&[Some(0), Some(8), None]), "every day");
    }

    #[test]
    fn days_from_a_form_are_sorted_once_each_and_others_refused_on_their_field() {
        let mut errors = FieldErrors::new();
        let given = ["5", "1", "5"].map(String::from);
        assert_eq!(parse_days(&given, "days", &mut errors), [1, 5]);
        assert!(errors.is_empty());
        let given = ["0", "8", "Mon"].map(String::from);
        assert!(parse_days(&given, "days", &mut errors).is_empty());
        assert_eq!(errors.get("days"), Some("Choose days of the week."));
    }
}
