// Values every test that renders charts/sterlet passes: the chart refuses
// its placeholder image at template time, and these tests never pull images
// (the API server has no nodes), so any qualified name will do.
export const CHART_TEST_VALUES: readonly string[] = ['--set', 'image.repository=registry.invalid/sterlet'];
