from pentascore.cli.main import main

main()
