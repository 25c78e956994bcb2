{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "sterlet.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name for every object. */}}
{{- define "sterlet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sterlet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "sterlet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: controller, agent or decap. */}}
{{- define "sterlet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sterlet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sterlet.image" -}}
{{- if and (eq .Values.image.repository "sterlet") (not .Values.image.allowPlaceholder) -}}
{{- fail (printf "image.repository is still the placeholder \"sterlet\": no Sterlet image is published, so nodes cannot pull it. Build the Dockerfile's image and push it to your registry (docker build -t REGISTRY/sterlet:%s . && docker push REGISTRY/sterlet:%s), then --set image.repository=REGISTRY/sterlet; or, when every node already has sterlet:%s (kind load docker-image, ctr images import), --set image.allowPlaceholder=true" .Chart.AppVersion .Chart.AppVersion .Chart.AppVersion) -}}
{{- end -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Separate ServiceAccounts so the controller and the agents hold only their own rights. */}}
{{- define "sterlet.controllerServiceAccount" -}}
{{ include "sterlet.fullname" . }}-controller
{{- end -}}
{{- define "sterlet.agentServiceAccount" -}}
{{ include "sterlet.fullname" . }}-agent
{{- end -}}
