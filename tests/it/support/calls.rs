//! The calls the local IAM received: recording them, reading their parameters, and
//! which change state.

use base64::Engine as _;

use super::LocalIam;

/// One form parameter of a recorded call.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Actions that change IAM state.
pub(crate) fn is_write(action: &str) -> bool {
    [
        "Create",
        "Delete",
        "Update",
        "Put",
        "Attach",
        "Detach",
        "Tag",
        "Untag",
        "Add",
        "Remove",
        "Upload",
        "Enable",
        "Deactivate",
        "Set",
        "Change",
        "Reset",
    ]
    .iter()
    .any(|prefix| action.starts_with(prefix))
}

impl LocalIam {
    /// Start recording the calls the server receives (clears earlier records).
    pub(crate) fn start_recording(&self) {
        ureq::post(&format!(
            "{}/moto-api/recorder/reset-recording",
            self.endpoint
        ))
        .send_empty()
        .expect("reset recording");
        ureq::post(&format!(
            "{}/moto-api/recorder/start-recording",
            self.endpoint
        ))
        .send_empty()
        .expect("start recording");
    }

    /// Every request recorded since `start_recording`, in order: its headers and its
    /// body as text.
    fn recorded_requests(&self) -> Vec<(serde_json::Value, String)> {
        let text = ureq::get(&format!(
            "{}/moto-api/recorder/download-recording",
            self.endpoint
        ))
        .call()
        .expect("download recording")
        .body_mut()
        .read_to_string()
        .expect("recording text");
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).expect("recorded JSON");
                let body = entry["body"].as_str().unwrap_or_default();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap_or_else(|_| body.as_bytes().to_vec());
                (
                    entry["headers"].clone(),
                    String::from_utf8_lossy(&decoded).into_owned(),
                )
            })
            .collect()
    }

    /// Every call of a JSON-protocol service (Secrets Manager) recorded since
    /// `start_recording`, in order: the operation (`DescribeSecret`, ...) and the
    /// request's fields.
    pub(crate) fn recorded_json_calls(&self) -> Vec<(String, serde_json::Value)> {
        self.recorded_requests()
            .into_iter()
            .filter_map(|(headers, body)| {
                let target = headers["X-Amz-Target"].as_str()?;
                let operation = target.rsplit('.').next()?.to_string();
                Some((operation, serde_json::from_str(&body).unwrap_or_default()))
            })
            .collect()
    }

    /// Every call recorded since `start_recording`, in order, as its form parameters
    /// (`Action`, `UserName`, `AccessKeyId`, ...; values as sent, not URL-decoded).
    pub(crate) fn recorded_calls(&self) -> Vec<Vec<(String, String)>> {
        self.recorded_requests()
            .into_iter()
            .map(|(_, body)| {
                body.split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect()
            })
            .collect()
    }

    /// The `Action` of every call recorded since `start_recording`, in order.
    pub(crate) fn recorded_actions(&self) -> Vec<String> {
        self.recorded_calls()
            .iter()
            .filter_map(|params| param(params, "Action").map(str::to_string))
            .collect()
    }

    /// The recorded calls that change IAM state, as "Action AccessKeyId=Status" lines.
    pub(crate) fn recorded_writes(&self) -> Vec<String> {
        self.recorded_calls()
            .iter()
            .filter(|params| param(params, "Action").is_some_and(is_write))
            .map(|params| {
                format!(
                    "{} {}={}",
                    param(params, "Action").unwrap_or_default(),
                    param(params, "AccessKeyId").unwrap_or_default(),
                    param(params, "Status").unwrap_or_default()
                )
            })
            .collect()
    }
}
