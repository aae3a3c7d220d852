// Hosts (/ui/hosts): host metrics of one instance (selector in the URL: ?instance=).

import type { Route } from '../lib/url';
import { labelValues } from '../lib/api';
import { useAsync, useRange, useTitle } from '../lib/hooks';
import { setParams, useParams, useTime } from '../lib/store';
import { HOST_QUERIES } from '../lib/promql';
import { ErrorBox, Loading, PageHeader } from '../components/common';
import { Chart } from '../components/chart';

export default function HostsPage(_props: { route: Route }) {
  useTitle('Hosts');
  const time = useTime();
  const params = useParams();
  const instances = useAsync(
    (signal) => labelValues('instance', { match: ['system_cpu_utilization_ratio'], startMs: time.start, endMs: time.end, signal }),
    [time.start, time.end, time.tick],
  );
  const list = instances.data ?? [];
  const wanted = params.get('instance');
  const instance = wanted ?? list[0] ?? null;
  return (
    <div class="page" data-page="hosts" data-ready={instances.data || instances.error ? 'true' : 'false'} data-instance={instance ?? ''}>
      <PageHeader title="Hosts">
        {list.length > 0 && (
          <label class="inline-label">
            Host
            <select
              class="btn"
              data-testid="instance-select"
              value={instance ?? ''}
              onChange={(e) => setParams({ instance: e.currentTarget.value })}
            >
              {wanted && !list.includes(wanted) && <option value={wanted}>{wanted} (no data)</option>}
              {list.map((i) => (
                <option value={i}>{i}</option>
              ))}
            </select>
          </label>
        )}
      </PageHeader>
      {instances.error ? (
        <ErrorBox error={instances.error} />
      ) : !instances.data ? (
        <Loading />
      ) : instance === null ? (
        <div class="panel empty-state">No host metrics in this range.</div>
      ) : (
        <HostCharts instance={instance} />
      )}
    </div>
  );
}

function HostCharts({ instance }: { instance: string }) {
  const time = useTime();
  const cpu = useRange(HOST_QUERIES.cpuTotal(instance), time);
  const cores = useRange(HOST_QUERIES.cpuPerCore(instance), time);
  const load = useRange(HOST_QUERIES.load(instance), time);
  const mem = useRange(HOST_QUERIES.memoryBytes(instance), time);
  const swap = useRange(HOST_QUERIES.swapBytes(instance), time);
  const fs = useRange(HOST_QUERIES.filesystem(instance), time);
  const disk = useRange((w) => HOST_QUERIES.diskIo(instance, w), time);
  const net = useRange((w) => HOST_QUERIES.network(instance, w), time);
  const by = (...keys: string[]) => (l: Record<string, string>) => keys.map((k) => l[k] ?? '').filter(Boolean).join(' ') || 'value';
  return (
    <div class="grid grid-2">
      <Chart title="CPU (total)" unit="percentunit" max={1} data={cpu.data} error={cpu.error} loading={cpu.loading} legend={() => 'total'} testId="hosts-cpu" />
      <Chart title="CPU per core" unit="percentunit" max={1} data={cores.data} error={cores.error} loading={cores.loading} legend={by('cpu')} testId="hosts-cpu-cores" />
      <Chart
        title="Load average"
        unit="plain"
        data={load.data}
        error={load.error}
        loading={load.loading}
        legend={(l) => (l.__name__ ?? '').replace('system_cpu_load_average_', '')}
        testId="hosts-load"
      />
      <Chart title="Memory" unit="bytes" data={mem.data} error={mem.error} loading={mem.loading} legend={by('state')} testId="hosts-memory" />
      <Chart title="Swap (paging)" unit="bytes" data={swap.data} error={swap.error} loading={swap.loading} legend={by('state')} testId="hosts-swap" />
      <Chart title="Filesystem usage" unit="percentunit" max={1} data={fs.data} error={fs.error} loading={fs.loading} legend={by('mountpoint')} testId="hosts-filesystem" />
      <Chart title="Disk I/O" unit="bytes/s" data={disk.data} error={disk.error} loading={disk.loading} legend={by('device', 'direction')} testId="hosts-disk-io" />
      <Chart title="Network I/O" unit="bytes/s" data={net.data} error={net.error} loading={net.loading} legend={by('device', 'direction')} testId="hosts-network" />
    </div>
  );
}
