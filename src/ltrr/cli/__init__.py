"""The command line: parses arguments, calls the library, formats output. Only this prints."""
