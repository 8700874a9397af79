{{- define "tpl.helper" -}}helper:{{ .Release.Name }}{{- end }}
