use super::*;

/// A one-page PDF whose page draws `X0`; form `i` draws the forms named in `draws[i]`
/// (`X{j}`), each form's own `/Resources` listing every form when `own_resources`.
fn pdf(draws: &[&[usize]], own_resources: bool) -> Vec<u8> {
    let forms = draws.len();
    let xobjects: String = (0..forms).map(|i| format!("/X{i} {} 0 R ", 5 + i)).collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << {xobjects}>> >> /Contents 4 0 R >>"),
    ];
    let page = "/X0 Do";
    objects.push(format!("<< /Length {} >>\nstream\n{page}\nendstream", page.len()));
    for drawn in draws {
        let content: String = drawn.iter().map(|j| format!("/X{j} Do ")).collect();
        let resources =
            if own_resources { format!("/Resources << /XObject << {xobjects}>> >> ") } else { String::new() };
        objects.push(format!(
            "<< /Type /XObject /Subtype /Form /BBox [0 0 1 1] {resources}/Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    crate::corpus::pdf_file(objects.into_iter().map(String::into_bytes))
}

fn checked(draws: &[&[usize]], own_resources: bool) -> Result<(), Drawing> {
    check(&Document::load_mem(&pdf(draws, own_resources)).unwrap())
}

#[test]
fn a_form_that_draws_itself_is_refused_with_or_without_resources_of_its_own() {
    for own_resources in [true, false] {
        assert_eq!(checked(&[&[0]], own_resources), Err(Drawing::Loop), "{own_resources}");
        assert_eq!(checked(&[&[1], &[2], &[0]], own_resources), Err(Drawing::Loop), "{own_resources}");
    }
}

/// `forms` forms, each drawing the next.
fn chain(forms: usize) -> Vec<Vec<usize>> {
    (0..forms).map(|i| if i + 1 < forms { vec![i + 1] } else { Vec::new() }).collect()
}

#[test]
fn forms_drawn_deeper_than_the_bound_are_refused() {
    for (forms, expected) in [(MAX_DEPTH, Ok(())), (MAX_DEPTH + 1, Err(Drawing::TooDeep))] {
        let chain = chain(forms);
        let chain: Vec<&[usize]> = chain.iter().map(Vec::as_slice).collect();
        assert_eq!(checked(&chain, true), expected, "{forms}");
        assert_eq!(checked(&chain, false), expected, "{forms}, resources inherited");
    }
}

#[test]
fn forms_drawn_many_times_without_a_loop_pass() {
    // Each form draws the next two: many paths, no loop, 12 deep.
    let forms: Vec<Vec<usize>> = (0..12).map(|i| if i < 11 { vec![i + 1, i + 1] } else { vec![] }).collect();
    let forms: Vec<&[usize]> = forms.iter().map(Vec::as_slice).collect();
    assert_eq!(checked(&forms, true), Ok(()));
}

#[test]
fn extraction_refuses_a_form_that_draws_itself_instead_of_overflowing() {
    let refused = crate::extract::extract("application/pdf", &pdf(&[&[0]], false)).unwrap_err().to_string();
    assert_eq!(refused, "the document is not valid PDF: an XObject draws itself");
}
