// Lets bench/profile.mjs profile a server over an exact window: IPC messages
// { cmd: 'prof-start' } and { cmd: 'prof-stop' } (answered with the profile).
import { Session } from 'node:inspector/promises'

export function profilingOnIpc () {
  let session
  process.on('message', (m) => {
    if (m?.cmd === 'prof-start') {
      void (async () => {
        session = new Session()
        session.connect()
        await session.post('Profiler.enable')
        await session.post('Profiler.setSamplingInterval', { interval: 200 })
        await session.post('Profiler.start')
        process.send?.({ profiling: true })
      })()
    } else if (m?.cmd === 'alloc-start') {
      void (async () => {
        session = new Session()
        session.connect()
        await session.post('HeapProfiler.enable')
        await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: m.retained !== true || m.promoted === true, includeObjectsCollectedByMinorGC: m.retained !== true })
        process.send?.({ profiling: true })
      })()
    } else if ((m?.cmd === 'alloc-stop' || m?.cmd === 'prof-stop') && session !== undefined) {
      void (async () => {
        const { profile } = await session.post(m.cmd === 'alloc-stop' ? 'HeapProfiler.stopSampling' : 'Profiler.stop')
        session.disconnect()
        session = undefined
        process.send?.({ profile })
      })()
    }
  })
}
