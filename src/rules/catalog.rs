//! The data files under `rules/`, as typed values: services, document kinds, shared tables.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    pub service: ServiceInfo,
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    pub form: BTreeMap<String, FormField>,
    #[serde(default)]
    pub materials: Vec<MaterialSpec>,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// A bundle's items (一件事): decided one by one, reported in the decision's `items`.
    #[serde(default)]
    pub items: BTreeMap<String, ItemSpec>,
    /// The service's own steps, run by the decision's named, service-independent steps. `None`
    /// only in a rule set recorded before services declared them (see `ServiceSteps::legacy`).
    #[serde(default)]
    pub steps: Option<ServiceSteps>,
}

/// Steps particular to a service, declared in its rule file so that no material or field id of one
/// service is written into the decision's Rust code.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSteps {
    /// Work out the category of what the applicant does (the drainage permit's discharge category)
    /// from a document, check the form's own word against it, and require the test items the
    /// category needs (`tables/test-items.toml`).
    #[serde(default)]
    pub category: Option<CategoryStep>,
    /// Give the rules the water standard's limits for the treatment plant grade a form field names.
    #[serde(default)]
    pub limits: Option<LimitsStep>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryStep {
    /// The form field that may state the category; the decision reports the category under this key.
    pub field: String,
    /// The rule variable of the document it is worked out from (`licence`).
    pub from: String,
    /// That document's field holding what the applicant is registered to do.
    pub scope: String,
    /// That document's field holding the applicant's name (weaker evidence than the scope).
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsStep {
    /// The form field naming the plant grade (a column of the standard).
    pub grade_field: String,
    /// The grade when the form leaves it out: the strictest column.
    pub default_grade: String,
}

impl ServiceSteps {
    /// What a service file of a rule set recorded before services declared their steps meant: the
    /// steps the decision then ran for every service whose form had `discharge_category`, and the
    /// limits of `plant_grade` (default C) for every service. Kept so that decisions recorded under
    /// such a rule set replay exactly; a current rule file always declares `[steps]`.
    pub fn legacy(form: &BTreeMap<String, FormField>) -> Self {
        let category = form.contains_key("discharge_category").then(|| CategoryStep {
            field: "discharge_category".into(),
            from: "licence".into(),
            scope: "business_scope".into(),
            name: "name".into(),
        });
        Self { category, limits: Some(LimitsStep { grade_field: "plant_grade".into(), default_grade: "C".into() }) }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    pub name: String,
    /// Number format of the record an issued item gets: `{year}`, `{seq}` / `{seq:0N}`.
    #[serde(default)]
    pub record_number: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceInfo {
    pub id: String,
    pub name: String,
    pub legal_days: u32,
    pub promise_days: u32,
    /// Whether the machine may issue at all for this service.
    pub auto_issue: bool,
    #[serde(default)]
    pub validity_years: Option<u32>,
    /// Permit number format: `{year}` and `{seq}` / `{seq:04}` (zero-padded) are filled in.
    #[serde(default)]
    pub permit_number: Option<String>,
    /// The certificate's title, when the service issues one.
    #[serde(default)]
    pub certificate_title: Option<String>,
    /// The issuing authority printed on certificates.
    #[serde(default)]
    pub authority: Option<String>,
    pub basis: String,
    /// CEL: when an issued decision must be spot-checked after issue (承诺制).
    #[serde(default)]
    pub spot_check: Option<String>,
}

/// The order a service file writes its form's fields in, read from the same text (the schema's
/// maps are sorted by name; a form's page shows the fields as the file lists them).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FormOrder {
    #[serde(default)]
    pub form: indexmap::IndexMap<String, FieldOrder>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FieldOrder {
    #[serde(default)]
    pub fields: indexmap::IndexMap<String, FieldOrder>,
    #[serde(default)]
    pub item: indexmap::IndexMap<String, FieldOrder>,
}

impl FormField {
    /// How `value` is shown to a person.
    pub fn label_of<'a>(&'a self, value: &'a str) -> &'a str {
        self.values.iter().position(|v| v == value).and_then(|i| self.labels.get(i)).map_or(value, String::as_str)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormField {
    #[serde(rename = "type")]
    pub kind: FormFieldKind,
    pub label: String,
    #[serde(default)]
    pub optional: bool,
    /// The value an absent optional field takes.
    #[serde(default)]
    pub default: Option<toml::Value>,
    #[serde(default)]
    pub values: Vec<String>,
    /// How each of `values` is shown to a person, in the same order (the form's pages); absent:
    /// the values themselves.
    #[serde(default)]
    pub labels: Vec<String>,
    /// A line of guidance shown under the field's label on the form's page.
    #[serde(default)]
    pub hint: Option<String>,
    #[serde(default)]
    pub min: Option<f64>,
    /// The largest plausible value of a `number` (a volume of 1e308 m³ a day is no volume).
    #[serde(default)]
    pub max: Option<f64>,
    /// The longest a `string` may be, in characters (default `DEFAULT_MAX_CHARS`).
    #[serde(default)]
    pub max_chars: Option<usize>,
    /// Fields of an `object`.
    #[serde(default)]
    pub fields: BTreeMap<String, FormField>,
    /// Fields of each element of a `list` of objects.
    #[serde(default)]
    pub item: BTreeMap<String, FormField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormFieldKind {
    String,
    Bool,
    Number,
    Enum,
    Date,
    Object,
    List,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialSpec {
    pub id: String,
    /// The bundle items that need this material; empty means every item.
    #[serde(default)]
    pub items: Vec<String>,
    /// CEL condition; absent means always required.
    #[serde(default)]
    pub required: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub basis: String,
    /// The bundle items this rule concerns; empty means every item (and services without items).
    #[serde(default)]
    pub items: Vec<String>,
    #[serde(default)]
    pub when: Option<String>,
    pub expr: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentsFile {
    /// Labels of fields no reader takes; they end the value of the field before them.
    #[serde(default)]
    pub other_labels: Vec<String>,
    /// The nouns a label ends in (名称, 地址, 状态 …): a short Han cell ending in one, with a value
    /// after it, is the next pair's label and ends the value before it, named above or not.
    #[serde(default)]
    pub label_heads: Vec<String>,
    /// How a label no list holds is read by meaning (`understanding::meaning`); without it such a
    /// label reads nothing, as before this was declared.
    #[serde(default)]
    pub label_meaning: Option<LabelMeaningSpec>,
    pub kinds: BTreeMap<String, KindSpec>,
}

/// The encoder's reading of an unlisted label, fitted by `onewindow fit-labels`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelMeaningSpec {
    /// Least cosine similarity between the label and its nearest anchor.
    pub similarity: f64,
    /// Least lead of that anchor's class over the next class.
    pub margin: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindSpec {
    pub name: String,
    /// The rule variable this kind's fields appear under (`licence`, `report`), if rules read them.
    #[serde(default)]
    pub variable: Option<String>,
    pub titles: Vec<String>,
    pub cues: Vec<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
    /// Labels may be followed directly by their value with no space or colon (an ID card prints
    /// 姓名 a few millimetres from the name, and OCR often reads both as one piece). Off by
    /// default, where 委托方地址 is another label, not 委托方 and its value.
    #[serde(default)]
    pub glued_values: bool,
    /// The field under which this kind's results table is read against the water standard's items
    /// (`pollutants`: `report.pollutants.cod`); `None` for a kind without one.
    #[serde(default)]
    pub results: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub labels: Vec<String>,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub multiline: bool,
    /// Read, when no label gives it, from the organisation named alone on a line above the
    /// document's title: the letterhead of the laboratory that issued a report.
    #[serde(default)]
    pub letterhead: bool,
    /// Sentences that carry the field without a label, `{}` standing for the value:
    /// `"受{}委托"` reads the client of "受无锡市某某公司委托，我公司于……".
    #[serde(default)]
    pub prose: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    /// Text that names a place (a province, city, district, town or a street with its number):
    /// "FS1排放口前检测井" beside 采样地点 names a sampling point, not an address, and is no value.
    Address,
    Date,
    CreditCode,
    /// The end of a validity period written "2015.06.01-2035.06.01" (the later date, as
    /// YYYY-MM-DD) or "2016.02.10-长期" (`long_term`).
    ValidityEnd,
    /// A span of contribution written in months ("426个月", "426") or years and months
    /// ("35年6个月"), as a number of months.
    Months,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaterStandard {
    pub standard: StandardInfo,
    pub items: BTreeMap<String, PollutantSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardInfo {
    pub id: String,
    pub basis: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollutantSpec {
    pub name: String,
    pub aliases: Vec<String>,
    pub unit: String,
    #[serde(default)]
    pub min: BTreeMap<String, f64>,
    pub max: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestItemsFile {
    pub required: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoriesFile {
    pub categories: BTreeMap<String, Vec<String>>,
    /// How each category is written for people.
    #[serde(default)]
    pub names: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewReasonsFile {
    pub refusal_notice: String,
    pub refusal_basis: String,
    pub reasons: Vec<ReviewReason>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewReason {
    pub code: String,
    /// `issue`, `refuse` or `request_materials`.
    pub action: String,
    pub label: String,
    /// An issue over rules that still fail: allowed only with this reason and a written text, and
    /// recorded as an override.
    #[serde(default, rename = "override")]
    pub overrides: bool,
    /// Rules this reason settles by what the reviewer did (a site check settles
    /// `applicant.key_discharger`): issuing with it while they fail is no override.
    #[serde(default)]
    pub settles: Vec<String>,
}
