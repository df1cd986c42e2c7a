use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;

/// `/api`: the endpoints, in words and with curl.
#[derive(Template, WebTemplate)]
#[template(path = "api.html")]
pub struct ApiPage {
    pub page: PageCtx,
    pub endpoints: &'static [Endpoint],
    /// This server's address, for the examples.
    pub base: String,
}

/// An operation of the API as the page lists it.
#[derive(Debug)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: String,
    pub description: String,
}

impl Endpoint {
    pub fn summary_pieces(&self) -> Vec<(bool, &str)> {
        inline(&self.summary)
    }

    pub fn description_pieces(&self) -> Vec<(bool, &str)> {
        inline(&self.description)
    }
}

/// Text with `code` marked as in Markdown, as (is code, text) pieces: the
/// document's words, shown with their code spans (escaped as all text is).
pub fn inline(text: &str) -> Vec<(bool, &str)> {
    text.split('`')
        .enumerate()
        .filter(|(_, piece)| !piece.is_empty())
        .map(|(i, piece)| (i % 2 == 1, piece))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_spans_alternate_with_text() {
        assert_eq!(
            super::inline("ask from `next_offset` until `complete`."),
            [
                (false, "ask from "),
                (true, "next_offset"),
                (false, " until "),
                (true, "complete"),
                (false, ".")
            ]
        );
    }
}
