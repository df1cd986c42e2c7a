use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;
use crate::domain::environments::Environment;
use crate::domain::projects::Project;
use crate::domain::validation::FieldErrors;

#[derive(Template, WebTemplate)]
#[template(path = "admin/projects.html")]
pub struct ProjectsPage {
    pub page: PageCtx,
    pub projects: Vec<Project>,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub errors: FieldErrors,
}

/// The values and errors of one environment's form, kept when it fails.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentForm {
    pub name: String,
    pub url: String,
    pub trigger: String,
    pub errors: FieldErrors,
}

pub struct EnvironmentRow {
    pub environment: Environment,
    pub form: EnvironmentForm,
    pub is_first: bool,
    pub is_last: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/pipeline.html")]
pub struct PipelinePage {
    pub page: PageCtx,
    pub project: Project,
    pub rows: Vec<EnvironmentRow>,
    pub new_environment: EnvironmentForm,
}
