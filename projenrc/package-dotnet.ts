/**
 * .NET packaging needs the dotnet SDK: build the NuGet package where it exists, and skip with a
 * clear message where it does not (the other languages still package).
 */
import { spawnSync } from 'child_process';

const dotnet = spawnSync('dotnet', ['--version'], { stdio: 'ignore' });
if (dotnet.error || dotnet.status !== 0) {
  console.log('package:dotnet skipped: no .NET SDK (dotnet) on this machine; install the .NET 8 SDK to build the NuGet package.');
  process.exit(0);
}
const pacmak = spawnSync('jsii-pacmak', ['-v', '--target', 'dotnet'], { stdio: 'inherit' });
process.exit(pacmak.status ?? 1);
