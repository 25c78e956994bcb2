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
app.kubernetes.io/part-of: sterlet
{{- end -}}

{{/* Selector labels of one component: controller, agent or decap. */}}
{{- define "sterlet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sterlet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Pod template labels of one component ("root", "component", "values" = its values):
the full app.kubernetes.io set, then the component's podLabels. */}}
{{- define "sterlet.podLabels" -}}
{{ include "sterlet.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- with .values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod template's metadata block of one component (same argument as sterlet.podLabels). */}}
{{- define "sterlet.podMetadata" -}}
labels: {{- include "sterlet.podLabels" . | nindent 2 }}
{{- with .values.podAnnotations }}
annotations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* [global.imageRegistry/]repository, then @digest when set, else :tag (default appVersion). */}}
{{- define "sterlet.image" -}}
{{- $registry := (.Values.global | default dict).imageRegistry | default "" -}}
{{- if and (eq .Values.image.repository "sterlet") (eq $registry "") (not .Values.image.allowPlaceholder) -}}
{{- fail (printf "image.repository is still the placeholder \"sterlet\": no Sterlet image is published, so nodes cannot pull it. Build the Dockerfile's image and push it to your registry (docker build -t REGISTRY/sterlet:%s . && docker push REGISTRY/sterlet:%s), then --set image.repository=REGISTRY/sterlet (or global.imageRegistry=REGISTRY); or, when every node already has sterlet:%s (kind load docker-image, ctr images import), --set image.allowPlaceholder=true" .Chart.AppVersion .Chart.AppVersion .Chart.AppVersion) -}}
{{- end -}}
{{- $repository := ternary .Values.image.repository (printf "%s/%s" (trimSuffix "/" $registry) .Values.image.repository) (eq $registry "") -}}
{{- if .Values.image.digest -}}
{{ $repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ $repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets of one component: global, chart-wide, then the component's own
(names or {name: ...} objects), each secret once. */}}
{{- define "sterlet.imagePullSecrets" -}}
{{- $names := list -}}
{{- range concat ((.root.Values.global | default dict).imagePullSecrets | default list) (.root.Values.imagePullSecrets | default list) (.values.imagePullSecrets | default list) -}}
{{- if kindIs "string" . -}}
{{- $names = append $names . -}}
{{- else -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- end -}}
{{- with ($names | uniq) }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* extraEnv of one component, appended to the container's env. */}}
{{- define "sterlet.extraEnv" -}}
{{- with .extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* extraArgs of one component, appended to the container's args. */}}
{{- define "sterlet.extraArgs" -}}
{{- range .extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Separate ServiceAccounts so the controller and the agents hold only their own rights. */}}
{{- define "sterlet.controllerServiceAccount" -}}
{{ include "sterlet.fullname" . }}-controller
{{- end -}}
{{- define "sterlet.agentServiceAccount" -}}
{{ include "sterlet.fullname" . }}-agent
{{- end -}}
