import { describe, expect, it } from 'vitest';
import { chartCrdDrift, chartTemplate } from '../../scripts/chart-crds.ts';

describe('chart CRD templates', () => {
  it('match crds/ exactly (run `make manifests` after changing src/api)', async () => {
    expect(await chartCrdDrift()).toEqual([]);
  });

  it('gate each CRD on crds.enabled and add the keep policy on crds.keep', () => {
    const out = chartTemplate('# header\napiVersion: v1\nkind: X\nmetadata:\n  name: x\nspec: {}\n');
    expect(out).toContain('{{- if .Values.crds.enabled }}\napiVersion: v1');
    expect(out).toContain('  annotations:\n    {{- if .Values.crds.keep }}\n    helm.sh/resource-policy: keep');
    expect(out).not.toContain('# header');
  });

  it('refuses CRD text Helm would misread as a template', () => {
    expect(() => chartTemplate('metadata:\n  name: "{{ x }}"\n')).toThrow(/template action/);
  });
});
