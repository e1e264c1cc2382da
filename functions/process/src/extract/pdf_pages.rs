//! PDF text page by page, in one walk of the page tree. pdf-extract's own by-page function
//! looks every page up in a freshly built page map, so its time grew with the square of the
//! page count (a 50 MiB PDF ran for minutes); here the document is output once and the
//! text cut where pages begin and end.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use pdf_extract::{Document, MediaBox, OutputDev, OutputError, PlainTextOutput, Transform};

use super::pdf_streams::{self, Budget, Inflated};
use super::{pdf_content, pdf_drawing, pdf_fonts, pdf_objects};

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("page {page}'s chain of /Parent page nodes loops")]
    ParentLoop { page: u32 },
    #[error(transparent)]
    Inflated(#[from] Inflated),
    #[error(transparent)]
    Drawing(#[from] pdf_drawing::Drawing),
    #[error(transparent)]
    Fonts(#[from] pdf_fonts::TooManyCodes),
    #[error(transparent)]
    Entries(#[from] pdf_objects::TooManyEntries),
    #[error(transparent)]
    Content(#[from] pdf_content::TooMuchContent),
}

impl From<pdf_extract::Error> for PdfError {
    fn from(error: pdf_extract::Error) -> Self {
        PdfError::Output(error.into())
    }
}

/// The text of every page of `bytes`, in order. Errors (and panics, which the caller
/// catches) are pdf-extract's, but for a page tree pdf-extract would walk for ever.
pub fn pages(bytes: &[u8]) -> Result<Vec<String>, PdfError> {
    let file = pdf_streams::check_file(bytes, Budget::DEFAULT)?;
    pdf_objects::check_entries(bytes)?;
    let mut document = pdf_objects::load(bytes)?;
    if document.is_encrypted() {
        // As pdf-extract does: many PDFs are encrypted with an empty user password.
        document.decrypt("").map_err(OutputError::from)?;
        pdf_streams::check_document(&document, Budget::DEFAULT, None)?;
    } else {
        pdf_streams::check_document(&document, Budget::DEFAULT, Some(file))?;
    }
    refuse_parent_loops(&document)?;
    pdf_drawing::check(&document)?;
    pdf_fonts::check(&document)?;
    pdf_content::check(&document)?;
    let mut pages = Pages::default();
    pdf_extract::output_doc(&document, &mut pages)?;
    Ok(pages.done)
}

/// pdf-extract reads a page's inherited attributes (its media box) up the page's /Parent
/// chain without looking for a loop, so a PDF whose chain loops kept it spinning for ever
/// (found by the `extract` fuzz target). Such a page tree is refused before it starts.
fn refuse_parent_loops(document: &Document) -> Result<(), PdfError> {
    for (page, id) in (1..).zip(document.page_iter()) {
        let mut seen = HashSet::new();
        let mut node = Some(id);
        while let Some(current) = node {
            if !seen.insert(current) {
                return Err(PdfError::ParentLoop { page });
            }
            node = document.get_dictionary(current).and_then(|d| d.get(b"Parent")).and_then(|p| p.as_reference()).ok();
        }
    }
    Ok(())
}

/// One page's text, shared between the page's writer and [`Pages`].
#[derive(Clone, Default)]
struct PageText(Rc<RefCell<String>>);

impl std::fmt::Write for PageText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.borrow_mut().push_str(text);
        Ok(())
    }
}

impl pdf_extract::ConvertToFmt for PageText {
    type Writer = PageText;
    fn convert(self) -> Self::Writer {
        self
    }
}

/// pdf-extract's plain-text output, started afresh on each page (as its by-page function
/// does), each page's text kept apart. Strokes and fills keep the trait's no-op defaults,
/// as the plain-text output does.
#[derive(Default)]
struct Pages {
    done: Vec<String>,
    current: Option<(PageText, PlainTextOutput<PageText>)>,
}

impl Pages {
    fn page(&mut self) -> Result<&mut PlainTextOutput<PageText>, OutputError> {
        match &mut self.current {
            Some((_, output)) => Ok(output),
            None => Err(OutputError::FormatError(std::fmt::Error)),
        }
    }
}

impl OutputDev for Pages {
    fn begin_page(
        &mut self,
        number: u32,
        media_box: &MediaBox,
        art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        let text = PageText::default();
        let mut output = PlainTextOutput::new(text.clone());
        output.begin_page(number, media_box, art_box)?;
        self.current = Some((text, output));
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        if let Some((text, mut output)) = self.current.take() {
            output.end_page()?;
            drop(output);
            self.done.push(text.0.take());
        }
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        self.page()?.output_character(trm, width, spacing, font_size, char)
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.page()?.begin_word()
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        self.page()?.end_word()
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        self.page()?.end_line()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pages_are_pdf_extracts_own_pages() {
        let handbook = include_bytes!("../../tests/fixtures/handbook.pdf");
        let generated = crate::corpus::pdf(40_000);
        for pdf in [handbook.as_slice(), &generated] {
            let ours = super::pages(pdf).unwrap();
            assert!(ours.len() > 1);
            assert_eq!(ours, pdf_extract::extract_text_from_mem_by_pages(pdf).unwrap());
        }
    }

    #[test]
    fn a_page_that_is_its_own_parent_is_refused_not_walked_for_ever() {
        // The fuzzer's find (fuzz/regressions/extract): page 3 0 obj names itself its parent.
        let mut looped = include_bytes!("../../tests/fixtures/handbook.pdf").to_vec();
        let at = looped.windows(13).position(|w| w == b"/Parent 1 0 R").unwrap();
        looped[at + 8] = b'3';
        let error = super::pages(&looped).unwrap_err();
        assert!(matches!(error, super::PdfError::ParentLoop { page: 1 }), "{error}");
    }
}
