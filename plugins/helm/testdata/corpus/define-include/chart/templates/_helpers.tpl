{{- define "app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "app.labels" -}}
app: {{ include "app.name" . }}
release: {{ .Release.Name }}
{{- end }}

{{- define "app.empty" }}{{ end }}
