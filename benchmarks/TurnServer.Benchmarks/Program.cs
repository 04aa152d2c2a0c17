using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/TurnServer.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
